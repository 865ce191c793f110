/** `/dashboard/style.css`: system font, a small palette, one colour pair per op state. */
export const STYLE_CSS = String.raw`:root {
  --bg: #f5f6f8;
  --panel: #ffffff;
  --border: #e2e5ea;
  --text: #1f2937;
  --muted: #6b7280;
  --accent: #4f46e5;
  --pending-bg: #eceef1; --pending: #9ca3af;
  --ready-bg: #dbeafe; --ready: #2563eb;
  --assigned-bg: #fef3c7; --assigned: #d97706;
  --running-bg: #ffedd5; --running: #ea580c;
  --succeeded-bg: #dcfce7; --succeeded: #16a34a;
  --failed-bg: #fee2e2; --failed: #dc2626;
  color-scheme: light;
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body {
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--text);
  background: var(--bg);
}
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.ellipsis { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }

.top {
  display: flex; align-items: center; gap: 16px; flex-wrap: wrap;
  padding: 10px 20px; background: var(--panel); border-bottom: 1px solid var(--border);
}
.top h1 { font-size: 17px; margin: 0; display: flex; align-items: center; gap: 8px; font-weight: 650; }
.top h1 .muted { font-weight: 400; }
.logo { width: 18px; height: 18px; background: url(/dashboard/favicon.svg) center / contain no-repeat; display: inline-block; }
.oracle-info { display: flex; gap: 12px; color: var(--muted); font-size: 12.5px; }
.connection { margin-left: auto; font-size: 12.5px; padding: 2px 10px; border-radius: 999px; border: 1px solid var(--border); color: var(--muted); }
.connection::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: var(--pending); vertical-align: 0; }
.connection[data-state=open] { color: var(--succeeded); border-color: #bbf7d0; }
.connection[data-state=open]::before { background: var(--succeeded); }
.connection[data-state=closed] { color: var(--failed); border-color: #fecaca; }
.connection[data-state=closed]::before { background: var(--failed); }

main { max-width: 1440px; margin: 0 auto; padding: 16px 20px; display: grid; gap: 16px; }
footer { max-width: 1440px; margin: 0 auto; padding: 0 20px 20px; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; min-width: 0; }
.panel-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; margin-bottom: 8px; }
h2 { font-size: 14px; margin: 0; text-transform: uppercase; letter-spacing: .04em; color: #374151; }
.columns { display: grid; grid-template-columns: minmax(260px, 320px) minmax(0, 1fr); gap: 16px; align-items: start; }
@media (max-width: 1100px) { .columns { grid-template-columns: minmax(0, 1fr); } }

.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px 6px 0; border-bottom: 1px solid var(--border); vertical-align: middle; }
th { font-size: 12px; font-weight: 600; color: var(--muted); }
tbody tr:last-child td { border-bottom: 0; }
td.empty, .empty { color: var(--muted); padding: 12px 0; }
.error { color: var(--failed); }

.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 500; background: var(--pending-bg); color: #374151; white-space: nowrap; }
.badge.ok, .badge.state-live, .badge.state-succeeded, .badge.ban-none { background: var(--succeeded-bg); color: #166534; }
.badge.off, .badge.state-lost { background: var(--pending-bg); color: #4b5563; }
.badge.state-running, .badge.ban-window { background: var(--assigned-bg); color: #92400e; }
.badge.state-failed, .badge.ban-permanent { background: var(--failed-bg); color: #991b1b; }
.chip { display: inline-block; padding: 0 6px; margin: 1px 4px 1px 0; border: 1px solid var(--border); border-radius: 4px; background: #f9fafb; font-size: 12px; }

.graphs { list-style: none; margin: 0; padding: 0; max-height: 70vh; overflow-y: auto; }
@media (max-width: 1100px) { .graphs { max-height: 240px; } }
.graphs li + li { border-top: 1px solid var(--border); }
.graphs a { display: block; padding: 8px; color: inherit; text-decoration: none; border-radius: 6px; }
.graphs a:hover { background: #f3f4f6; }
.graphs li.selected a { background: #eef2ff; box-shadow: inset 3px 0 0 var(--accent); }
.graphs .row { display: flex; align-items: center; gap: 8px; justify-content: space-between; }
.graphs progress { flex: 1; height: 6px; appearance: none; border: 0; border-radius: 3px; background: #dde1e8; overflow: hidden; }
.graphs progress::-webkit-progress-bar { background: #dde1e8; border-radius: 3px; }
.graphs progress::-webkit-progress-value { background: var(--succeeded); border-radius: 3px; }
.graphs progress::-moz-progress-bar { background: var(--succeeded); }

.graph-head .graph-id { color: var(--muted); }
.progress-text { font-variant-numeric: tabular-nums; font-weight: 500; }
.live { margin-left: auto; font-size: 12px; color: var(--muted); }
.live[data-state=live] { color: var(--succeeded); }
.live[data-state=live]::before { content: "● "; }
.live[data-state=offline] { color: var(--failed); }
.graph-meta { margin-bottom: 8px; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 14px; margin: 0 0 8px; padding: 0; font-size: 12px; color: var(--muted); }
.legend li { display: flex; align-items: center; gap: 5px; }
.legend .swatch { width: 12px; height: 12px; border-radius: 3px; border: 1.5px solid var(--c); background: var(--c-bg); }

.dag-wrap { overflow: auto; border: 1px solid var(--border); border-radius: 8px; background: #fbfbfc; min-height: 120px; max-height: 75vh; }
.dag-wrap .empty { padding: 16px; margin: 0; }
svg.dag { display: block; max-width: 100%; height: auto; }
.dag .edge { fill: none; stroke: #c4c9d1; stroke-width: 1.4; }
.dag .edge.done { stroke: #86c69a; }
.dag .arrow { fill: #9ca3af; }
.dag .op rect { fill: var(--c-bg); stroke: var(--c); stroke-width: 1.5; }
.dag .op .dot { fill: var(--c); }
.dag .op text { font-size: 12px; fill: #111827; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
.dag .op:focus { outline: none; }
.dag .op:focus rect, .dag .op:hover rect { stroke-width: 2.5; }
.dag .op.state-running .dot { animation: pulse 1s ease-in-out infinite; }
@keyframes pulse { 50% { opacity: .25; } }
@media (prefers-reduced-motion: reduce) { .dag .op.state-running .dot { animation: none; } }

.nocase { text-transform: none; letter-spacing: 0; }
.pgas-body { display: grid; grid-template-columns: minmax(220px, 300px) minmax(0, 1fr); gap: 16px; align-items: start; }
@media (max-width: 800px) { .pgas-body { grid-template-columns: minmax(0, 1fr); } }
.pgas-value { display: flex; align-items: baseline; gap: 6px; flex-wrap: wrap; }
.pgas-current { font-size: 24px; font-weight: 650; }
.badge.source-controller { background: #eef2ff; color: #3730a3; }
.badge.source-chain { background: #ecfeff; color: #155e75; }
.pgas-meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 8px 0 0; font-size: 12.5px; }
.pgas-meta dt { color: var(--muted); }
.pgas-meta dd { margin: 0; font-variant-numeric: tabular-nums; }
.pgas-chart-wrap { min-width: 0; }
.pgas-chart-wrap .empty { margin: 0; }
svg.pgas-chart { display: block; width: 100%; max-width: 760px; height: auto; }
.pgas-chart .axis { stroke: #c4c9d1; stroke-width: 1; }
.pgas-chart .grid { stroke: #e5e7eb; stroke-width: 1; stroke-dasharray: 3 3; }
.pgas-chart .label, .pgas-chart .note { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }
.pgas-chart .line { fill: none; stroke: var(--accent); stroke-width: 1.6; stroke-linejoin: round; }
.pgas-chart .area { fill: var(--accent); opacity: .08; }
.pgas-chart .pt { fill: var(--panel); stroke: var(--accent); stroke-width: 1.2; }
.pgas-chart .pt:hover { fill: var(--accent); r: 4; }

.state-pending { --c: var(--pending); --c-bg: var(--pending-bg); }
.state-ready { --c: var(--ready); --c-bg: var(--ready-bg); }
.state-assigned { --c: var(--assigned); --c-bg: var(--assigned-bg); }
.state-running { --c: var(--running); --c-bg: var(--running-bg); }
.state-succeeded { --c: var(--succeeded); --c-bg: var(--succeeded-bg); }
.state-failed { --c: var(--failed); --c-bg: var(--failed-bg); }
`
