"""Who may change things when the app is shared. Reading results is open to everyone who can
reach the app; launching runs, uploading worlds and storing them are for those who may:

- `LAB_READ_ONLY=1`: nobody (a viewing deployment: results, compare, share);
- `LAB_PASSWORD=...`: those who logged in with it in the sidebar (for one browser session);
- neither: everyone (the default, safe because the app listens on this machine only).

Both are read where the app starts, so an operator sets them next to `--server.address`."""

from __future__ import annotations

import hmac
import os
import time

import streamlit as st

TRUE_WORDS = {"1", "true", "yes", "on"}
FAILED_LOGIN_DELAY_S = 1.0  # a guess costs a second: no fast password guessing


def read_only() -> bool:
    return os.environ.get("LAB_READ_ONLY", "").strip().lower() in TRUE_WORDS


def password() -> str:
    return os.environ.get("LAB_PASSWORD", "")


def may_change(action: str) -> bool:
    """Whether this browser session may `action` (for example "launch runs"). When it may
    not, the sidebar says why and, if a password opens it, offers the login."""
    if read_only():
        st.sidebar.info(f"This lab is shared read-only: you can look at results but not {action}.")
        return False
    if not password():
        return True
    if st.session_state.get("lab_logged_in"):
        if st.sidebar.button("Log out"):
            st.session_state.lab_logged_in = False
            st.rerun()
        return True
    with st.sidebar.form("login"):
        st.caption(f"Log in to {action}; results can be read without it.")
        typed = st.text_input("Password", type="password")
        if st.form_submit_button("Log in"):
            if hmac.compare_digest(typed.encode(), password().encode()):
                st.session_state.lab_logged_in = True
                st.rerun()
            time.sleep(FAILED_LOGIN_DELAY_S)
            st.error("Wrong password.")
    return False
