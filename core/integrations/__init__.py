"""Interop with other toolkits (LangChain) over the collections the app builds."""
