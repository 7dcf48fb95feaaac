"""One module per ``host`` command: its option tables and its ``run``, a few lines over a library call.

Each module holds a ``COMMAND`` (or ``COMMANDS``, for a group such as ``emulator start|stop``);
``host/cli.py`` builds the parser from them and maps the root error to an exit code. A
command's ``run`` parses its tables out of the namespace, calls the library, prints, and returns
the exit code; nothing here measures, converts or decides.
"""
