// creditmeter usage dashboard: draws the chart and makes the menus behave.
// Everything the page shows is also in its HTML (the totals table); this only adds to it.
(function () {
  "use strict";

  var numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

  function drawChart() {
    var source = document.getElementById("chart-data");
    var canvas = document.getElementById("usage-chart");
    if (!source || !canvas || !window.Chart) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var metric = data.metric;
    var Chart = window.Chart;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#5f6b7a";
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (series) {
          return {
            label: series.label,
            data: series[metric],
            backgroundColor: series.colour,
            borderWidth: 0,
            maxBarThickness: 36,
            stack: "usage",
          };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            stacked: true,
            grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 14 },
          },
          y: {
            stacked: true,
            beginAtZero: true,
            grid: { color: "#eef0f3" },
            border: { display: false },
            ticks: {
              callback: function (value) {
                return numbers.format(value);
              },
            },
          },
        },
        plugins: {
          legend: {
            position: "bottom",
            labels: { boxWidth: 12, boxHeight: 12, padding: 14 },
          },
          tooltip: {
            filter: function (item) {
              return item.raw !== 0;
            },
            callbacks: {
              title: function (items) {
                return items.length ? data.titles[items[0].dataIndex] : "";
              },
              label: function (item) {
                return " " + item.dataset.label + ": " + numbers.format(item.raw);
              },
              footer: function (items) {
                var sum = items.reduce(function (total, item) {
                  return total + item.raw;
                }, 0);
                return "Total: " + numbers.format(sum) + " " + metric;
              },
            },
          },
        },
      },
    });
    canvas.setAttribute("data-drawn", "true");
  }

  // One menu open at a time; Escape or a click elsewhere closes it.
  function wireMenus() {
    var menus = Array.prototype.slice.call(document.querySelectorAll("details.menu"));
    menus.forEach(function (menu) {
      menu.addEventListener("toggle", function () {
        if (!menu.open) {
          return;
        }
        menus.forEach(function (other) {
          if (other !== menu) {
            other.open = false;
          }
        });
        var first = menu.querySelector("input:not([type=hidden]), a");
        if (first && (menu.classList.contains("filter") || menu.id === "zone-menu")) {
          first.focus();
        }
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") {
        return;
      }
      menus.forEach(function (menu) {
        if (menu.open) {
          menu.open = false;
          menu.querySelector("summary").focus();
        }
      });
    });
    document.addEventListener("click", function (event) {
      menus.forEach(function (menu) {
        if (menu.open && !menu.contains(event.target)) {
          menu.open = false;
        }
      });
    });
  }

  // The URL is the view: offer to copy it.
  function wireCopyLink() {
    var button = document.getElementById("copy-link");
    if (!button || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(window.location.href).then(function () {
        button.textContent = "Link copied";
        setTimeout(function () {
          button.textContent = "Copy link";
        }, 2000);
      });
    });
  }

  // The zone picker offers this browser's own zone when the page shows another.
  function wireBrowserZone() {
    var button = document.getElementById("zone-browser");
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      zone = "";
    }
    if (!button || !zone || zone === button.getAttribute("data-zone")) {
      return;
    }
    var url = new URL(window.location.href);
    url.searchParams.set("timeZone", zone);
    button.href = url.pathname + url.search;
    button.textContent = "This browser's zone (" + zone + ")";
    button.hidden = false;
  }

  function start() {
    drawChart();
    wireMenus();
    wireCopyLink();
    wireBrowserZone();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
