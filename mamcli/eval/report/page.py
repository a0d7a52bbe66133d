"""The HTML report's fixed parts: its style sheet and the inline script that sorts the table.

Clicking a column header of the per-image table sorts by it (worst first for an error,
again to reverse). On load the page applies `#sort=<column>-<asc|desc>` from its address by
clicking that header, so a headless browser can check the very same handler.
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child,td.path,.settings td{text-align:left}
#images th[data-key]{cursor:pointer;background:#eef}
#images th[data-dir=asc]::after{content:" \\25B2"}
#images th[data-dir=desc]::after{content:" \\25BC"}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:12px 0}
.thumbs{display:flex;gap:8px;flex-wrap:wrap}
figure{margin:0;text-align:center;font-size:12px;color:#555}
figure img{display:block;max-width:224px;max-height:224px;background:#888}
.bar{display:flex;justify-content:space-between;font-size:11px;width:224px}
.bar-img{width:224px;height:12px;background:none}
.error{color:#b00}.hint{color:#b00;font-weight:bold}
"""

SCRIPT = """
(function () {
  var table = document.getElementById("images");
  if (!table) return;
  var body = table.tBodies[0];
  function value(row, key) {
    var text = row.getAttribute("data-" + key);
    var number = parseFloat(text);
    return isNaN(number) ? text : number;
  }
  function sortBy(key, dir) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      var order = typeof x === "number" && typeof y === "number"
        ? x - y : String(x).localeCompare(String(y));
      return dir === "asc" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("th[data-key]").forEach(function (th) {
      th.setAttribute("data-dir", th.getAttribute("data-key") === key ? dir : "");
    });
    table.setAttribute("data-sorted", key + "-" + dir);
  }
  function onClick(event) {
    var th = event.currentTarget, dir = th.getAttribute("data-dir");
    var first = th.getAttribute("data-first");
    sortBy(th.getAttribute("data-key"), dir ? (dir === "asc" ? "desc" : "asc") : first);
  }
  table.querySelectorAll("th[data-key]").forEach(function (th) {
    th.addEventListener("click", onClick);
  });
  function fromAddress() {
    var match = /sort=([a-z_]+)-(asc|desc)/.exec(location.hash);
    if (!match) return;
    var th = table.querySelector('th[data-key="' + match[1] + '"]');
    for (var i = 0; th && i < 2 && table.getAttribute("data-sorted") !== match[0].slice(5); i++) {
      th.click();
    }
  }
  fromAddress();
  window.addEventListener("hashchange", fromAddress);
})();
"""
