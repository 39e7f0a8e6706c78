"""The survey report's style sheet: A4 portrait, every table and picture inside the page width.

WeasyPrint reads the print rules (``@page``, running header, page numbers); a browser shows the
same document on screen and prints it with the same rules.  Long stream addresses wrap anywhere
(``overflow-wrap: anywhere``, ``word-break: break-all`` for engines without it); tables have a
fixed layout so no column grows past the page; table headers repeat on each page (``thead``);
each camera is one card whose snapshot is bounded in both directions.
"""

from __future__ import annotations

__all__ = ["report_css"]

_CSS = """
@page { size: A4 portrait; margin: 17mm 12mm 15mm 12mm;
  @top-left { content: element(running); }
  @bottom-right { content: "@PAGE@ " counter(page) " / " counter(pages); font-size: 7.5pt; color: #555; } }
html { font-family: "DejaVu Sans", "Noto Sans", Arial, sans-serif; font-size: 9pt; color: #222; }
body { margin: 0; }
@media screen { body { max-width: 62em; margin: 1.5em auto; padding: 0 1em; } .running { display: none; } }
.running { position: running(running); font-size: 7.5pt; color: #555; }
h1 { font-size: 15pt; margin: 0 0 .3em; }
h2 { font-size: 12pt; margin: 1.1em 0 .4em; break-after: avoid; page-break-after: avoid; }
h3 { font-size: 10pt; margin: 0 0 .3em; overflow-wrap: anywhere; }
h4 { font-size: 9pt; margin: .45em 0 .15em; break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: .2em 0 .7em; }
th, td { border: 1px solid #bbb; padding: .2em .35em; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; word-wrap: break-word; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th { background: #eee; }
table.meta { width: auto; table-layout: auto; margin-bottom: .5em; }
table.meta th, table.facts th { background: none; border: none; padding: .05em .8em .05em 0; }
table.meta td, table.facts td { border: none; padding: .05em 0; }
table.findings th:nth-child(1) { width: 12%; } table.findings th:nth-child(2) { width: 15%; }
table.findings th:nth-child(3) { width: 38%; }
table.hosts th:nth-child(1) { width: 18%; } table.hosts th:nth-child(2) { width: 22%; }
table.hosts th:nth-child(3) { width: 28%; } table.hosts th:nth-child(4) { width: 12%; }
.camera { border: 1px solid #999; padding: .45em .6em; margin: 0 0 .6em; break-inside: avoid;
  page-break-inside: avoid; }
table.top, table.top > tbody > tr > td { border: none; padding: 0; margin: 0; }
table.facts { margin: 0; }
table.facts th { width: 32%; }
td.snapbox { width: 62mm; text-align: right; }
img.snap { max-width: 60mm; max-height: 45mm; width: auto; height: auto; }
ul.items { margin: 0; padding-left: 1.1em; }
ul.items li { margin: 0 0 .15em; break-inside: avoid; page-break-inside: avoid; }
code.uri { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; overflow-wrap: anywhere;
  word-break: break-all; }
.problem { color: #a00; font-weight: bold; } .warning { color: #a60; } .info { color: #246; }
.none { color: #666; margin: .1em 0; }
@media print { a { color: inherit; text-decoration: none; } }
.topology { margin: .2em 0 .7em; }
.topo-root { margin: 0 0 .5em; }
.topo-dev { font-size: 9.5pt; padding: .1em .3em; border: 1px solid #777; background: #f2f2f2; display: inline-block;
  max-width: 100%; overflow-wrap: anywhere; }
.topo-dev.router { background: #e6eef7; }
ul.topo, ul.topo-loose { list-style: none; margin: 0 0 0 .6em; padding: 0 0 0 .9em; border-left: 1px solid #888; }
ul.topo-loose { border-left: none; }
ul.topo > li { position: relative; margin: 0; padding: .06em 0 .06em .15em; }
ul.topo > li::before { content: ""; position: absolute; left: -.9em; top: .7em; width: .75em;
  border-top: 1px solid #888; }
.topo-port, .topo-host, .topo-seen { break-inside: avoid; page-break-inside: avoid; overflow-wrap: anywhere; }
span.port { font-family: "DejaVu Sans Mono", monospace; font-weight: bold; border: 1px solid #999;
  padding: 0 .25em; background: #fff; }
.topo-port .facts { color: #555; font-size: 8pt; }
.topo .kind { color: #246; }
.link { color: #555; }
"""


def report_css(page_word: str) -> str:
    """Return the report's style sheet, with the reader's word for "Page" in the page numbers."""
    quoted = "".join(c for c in page_word if c not in '"\\\n\r<>{}')  # a CSS string, inside <style>
    return _CSS.replace("@PAGE@", quoted)
