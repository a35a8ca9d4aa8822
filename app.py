"""The ICL vs fine-tuning lab's entry point (`streamlit run app.py`): the pages and their names
in the sidebar. Home is views/0_Home.py; every page only calls core/ and draws. (The folder is
not called pages/: Streamlit would list that folder's files too, this file among them as "app".)"""

import streamlit as st

# Titles as the sidebar shows them; the addresses stay those of the page files
# (/Compare?runs=..., links in reports and colleagues' bookmarks keep working).
PAGES = [("0_Home.py", "Home", ""), ("1_Worlds.py", "Worlds", "Worlds"),
         ("2_Experiments.py", "Experiments", "Experiments"), ("3_Runs.py", "Runs", "Runs"),
         ("4_Results.py", "Results", "Results"), ("5_Augmentations.py", "Augmentations", "Augmentations"),
         ("6_What_if.py", "What if", "What_if"), ("7_Compare.py", "Compare", "Compare"),
         ("8_Share.py", "Share", "Share")]

st.navigation([st.Page(f"views/{file}", title=title, url_path=path or None, default=not path)
               for file, title, path in PAGES]).run()
