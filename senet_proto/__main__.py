"""``python -m senet_proto`` is the ``senet-proto`` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="senet-proto")
