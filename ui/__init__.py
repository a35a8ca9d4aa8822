"""Drawing helpers shared by the Streamlit pages (presentation only, no science)."""
