"""Documents: recognising file types, parsing them in a sandboxed process, and chunking their text."""
