"""In-process and subprocess emulators of storage services the tests cannot run for real."""
