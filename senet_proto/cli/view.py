"""``senet-proto view``: look at a net in Netron (local) or Netscope (editor or secret gist)."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import click

from .common import check_text_output, guarded, is_quiet, is_stdout, status, verbosity_options, write_text_output

log = logging.getLogger("senet_proto.view")

HELP = """Look at a net in Netron (served locally) or in Netscope (web editor or a secret GitHub gist).

ARCH is an architecture id (see `senet-proto list`), FILE a .prototxt or a `convert --to pytorch` file
(its embedded net).

\b
--netron (default)  serve the net with Netron on 127.0.0.1 and print the URL; Ctrl-C stops it.
--netscope          write the prototxt (-o FILE, '-o -' standard output, else a temporary file; a legacy
                    V1 net is sent upgraded to 'layer', the only form Netscope reads), copy it to the clipboard
                    (wl-copy, xclip, xsel or pbcopy, when one exists) and print the Netscope editor URL:
                    paste into the editor's left pane, press Shift+Enter.
--gist              create a SECRET gist with the prototxt (needs $GITHUB_TOKEN with the 'gist' scope)
                    and print its Netscope URL (https://ethereon.github.io/netscope/#/gist/ID).

Netscope needs prototxt its parser reads (no byte order mark, no ';' or ',' between fields, numbers
like 0.5 not .5) and a graph it can draw (unique layer names, one ordinary writer per blob, in-place
layers right after their producer). A FILE that breaks the text rules is re-printed in canonical form;
one that breaks the graph rules is refused (--allow-unsafe sends it anyway). Netscope infers shapes
only through layer types it knows: with `--se-style scale --squeeze fc` generated nets avoid Axpy.

\b
Examples:
  senet-proto view se-resnet-50                 # Netron at http://127.0.0.1:PORT/
  senet-proto view my.prototxt --port 8080 --open
  senet-proto view se-bn-inception --netscope -o se-bn-inception.prototxt
  GITHUB_TOKEN=... senet-proto view se-resnext-50 --gist
"""


@click.command("view", help=HELP)
@click.argument("net_spec", metavar="ARCH|FILE")
@click.option("--netron", "mode", flag_value="netron", default=True, help="Serve with Netron (default).")
@click.option("--netscope", "mode", flag_value="netscope", help="Prepare for Netscope's editor.")
@click.option("--gist", "mode", flag_value="gist", help="Create a secret gist and print its Netscope URL.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="a free port",
              help="Netron's port on 127.0.0.1.")
@click.option("--open", "browse", is_flag=True, help="Open the URL in a web browser.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="--netscope: write the prototxt here ('-': standard output).")
@click.option("--force", is_flag=True, help="Overwrite -o's file.")
@click.option("--no-clipboard", is_flag=True, help="--netscope: do not touch the clipboard.")
@click.option("--allow-unsafe", is_flag=True, help="Send a file that breaks Netscope's graph rules anyway.")
@verbosity_options
@guarded
def view_cmd(net_spec: str, mode: str, port: int, browse: bool, output: str | None, force: bool,
             no_clipboard: bool, allow_unsafe: bool) -> None:
    from ..view.source import load_source

    if output is not None:
        if mode != "netscope":
            raise click.UsageError("-o/--output goes with --netscope")
        check_text_output(output, "prototxt text", force=force)
    source = load_source(net_spec)
    if mode == "netron":
        _netron(source.filename, source.text.encode("utf-8"), port, browse)
        return
    text = source.text
    if len(source.net.layers):  # Netscope reads only 'layer': send the upgraded net, as the other commands read it
        from ..caffe import format_prototxt
        from ..nets import current_net

        text = format_prototxt(current_net(source.net))
        log.warning("a legacy V1 net ('layers'): sending it upgraded to 'layer', which Netscope reads")
    text = _netscope_text(text, source.from_file, allow_unsafe)
    if mode == "gist":
        from ..view.gist import create_gist, token_from_env

        gist = create_gist(source.filename, text, token_from_env(),
                           description=f"{source.net.name or source.filename} (Caffe prototxt, senet-proto)")
        click.echo(gist.netscope_url)
        log.info("gist page: %s", gist.html_url)
        if browse:
            click.launch(gist.netscope_url)
        return
    _netscope(source.filename, text, output, force, no_clipboard, browse)


def _netron(filename: str, data: bytes, port: int, browse: bool) -> None:
    from ..view.netron_server import serve

    server = serve(filename, data, port=port, browse=browse)
    click.echo(server.url)
    quiet = bool(click.get_current_context().meta.get("senet_proto.quiet"))
    if not quiet:
        click.echo("Netron is serving the net on 127.0.0.1 only; press Ctrl-C to stop.", err=True)
    try:
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    if not quiet:
        click.echo("stopped", err=True)


def _netscope_text(text: str, from_file: bool, allow_unsafe: bool) -> str:
    from ..caffe import format_prototxt, parse_prototxt
    from ..errors import PrototxtError
    from ..view.netscope import check_netscope_safe

    problems = check_netscope_safe(text)
    if problems and from_file:
        reprinted = format_prototxt(parse_prototxt(text))
        remaining = check_netscope_safe(reprinted)
        if len(remaining) < len(problems):  # protobuf's printer fixes BOMs, separators and number forms
            log.warning("the file is not Netscope-safe as written; sending it re-printed in canonical form")
            for p in problems:
                log.info("  %s", p)
            text, problems = reprinted, remaining
    if problems:
        listing = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
        if not allow_unsafe:
            raise PrototxtError(f"Netscope would misdraw this net: {listing} (--allow-unsafe sends it anyway)")
        log.warning("Netscope will misdraw this net: %s", listing)
    return text


def _netscope(filename: str, text: str, output: str | None, force: bool, no_clipboard: bool, browse: bool) -> None:
    from ..view.clipboard import copy_to_clipboard
    from ..view.netscope import EDITOR_URL

    if output is None:
        fd, tmp = tempfile.mkstemp(prefix=f"{Path(filename).stem}-", suffix=".prototxt")
        import os

        os.close(fd)
        output, force = tmp, True
    write_text_output(output, text, force=force)
    tool = None if no_clipboard else copy_to_clipboard(text)
    file = "standard output" if is_stdout(output) else output
    where = f"copied to the clipboard ({tool}); also in {file}" if tool else f"in {file}"
    # the steps go to stdout, unless the prototxt itself does; none with -q
    say = status if is_stdout(output) else (lambda line: None if is_quiet() else click.echo(line))
    say(f"Netscope: the prototxt is {where}.")
    say(f"  1. open {EDITOR_URL}")
    say("  2. paste it into the editor (left pane) and press Shift+Enter.")
    if browse:
        click.launch(EDITOR_URL)
