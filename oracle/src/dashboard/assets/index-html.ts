/**
 * The dashboard's page (served at `/` and `/dashboard`). Its markup is the empty frame;
 * `app.js` fills it from the oracle's JSON-RPC endpoint. Kept free of backticks and
 * `${` so it can live in this template string verbatim.
 */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>galactic oracle</title>
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/style.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<header class="top">
  <h1><span class="logo" aria-hidden="true"></span>galactic <span class="muted">oracle</span></h1>
  <div class="oracle-info" data-testid="oracle-info"></div>
  <div class="connection" data-testid="connection" data-state="connecting">connecting</div>
</header>
<main>
  <section class="panel" aria-labelledby="provers-title">
    <div class="panel-head">
      <h2 id="provers-title">Provers</h2>
      <span class="muted small" data-testid="provers-count"></span>
    </div>
    <div class="table-wrap">
      <table class="provers" data-testid="provers">
        <thead>
          <tr><th>Prover</th><th>State</th><th>Connected</th><th>Ban</th><th>Busy</th><th>Device</th><th>Plugins</th></tr>
        </thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <section class="panel pgas-panel" aria-labelledby="pgas-title" data-testid="pgas">
    <div class="panel-head">
      <h2 id="pgas-title">Price per gas <span class="nocase">(P_gas)</span></h2>
      <span class="muted small" data-testid="pgas-window">wei per gas, last 120 epochs</span>
    </div>
    <div class="pgas-body">
      <div class="pgas-now">
        <div class="pgas-value">
          <span class="pgas-current num" data-testid="pgas-current">…</span><span class="muted"> per gas</span>
          <span class="badge" data-testid="pgas-source" hidden></span>
        </div>
        <div class="mono muted small" data-testid="pgas-exact"></div>
        <dl class="pgas-meta" data-testid="pgas-meta"></dl>
      </div>
      <div class="pgas-chart-wrap" data-testid="pgas-chart-wrap"><p class="empty">Waiting for the oracle…</p></div>
    </div>
  </section>
  <div class="columns">
    <section class="panel graphs-panel" aria-labelledby="graphs-title">
      <div class="panel-head">
        <h2 id="graphs-title">Graphs</h2>
        <span class="muted small" data-testid="graphs-count"></span>
      </div>
      <ul class="graphs" data-testid="graphs"></ul>
    </section>
    <section class="panel graph-panel" aria-labelledby="graph-title" data-testid="graph">
      <div class="panel-head graph-head">
        <h2 id="graph-title">Graph</h2>
        <span class="graph-id mono" data-testid="graph-id"></span>
        <span class="badge" data-testid="graph-state" hidden></span>
        <span class="progress-text" data-testid="graph-progress"></span>
        <span class="live" data-testid="graph-live" hidden></span>
      </div>
      <div class="graph-meta muted small" data-testid="graph-meta"></div>
      <ul class="legend" aria-label="Op states"></ul>
      <div class="dag-wrap" data-testid="dag-wrap">
        <p class="empty">Select a graph on the left, or open <span class="mono">#graph=&lt;id&gt;</span>.</p>
      </div>
    </section>
  </div>
</main>
<footer class="muted small">Read-only view of this oracle, refreshed every 2 s and live from graph events.</footer>
</body>
</html>
`
