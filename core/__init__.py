"""domainchat core: every behaviour of the app, importable and testable without Streamlit."""
