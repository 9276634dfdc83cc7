#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] == ["version"]:
        # Django answers `version` with its own version before it looks for a command of that
        # name; here it is the installed release's (config/version.py, CHANGELOG.md).
        import django
        from django.core.management import call_command

        django.setup()
        call_command("version", *sys.argv[2:])
        return
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
