// The run page follows its run over server-sent events: new timeline rows, streamed
// output, status; when the run pauses the waiting panel is fetched again.
"use strict";
(function () {
  const timeline = document.getElementById("timeline");
  if (!timeline || !window.EventSource) return;
  const run = timeline.dataset.run;
  const done = ["succeeded", "completed_with_failures", "failed", "aborted"];
  if (done.includes(timeline.dataset.status)) return;
  const source = new EventSource("/runs/" + run + "/live?after=" + timeline.dataset.last);
  const seen = new Set(Array.from(timeline.children).map((li) => li.dataset.n));
  source.addEventListener("ev", (msg) => {
    const data = JSON.parse(msg.data);
    if (seen.has(String(data.n))) return;
    seen.add(String(data.n));
    timeline.insertAdjacentHTML("beforeend", data.html);
  });
  source.addEventListener("out", (msg) => {
    for (const line of JSON.parse(msg.data).lines) {
      const boxes = timeline.querySelectorAll('pre.out[data-step="' + CSS.escape(line.step_id) + '"]');
      if (boxes.length) boxes[boxes.length - 1].textContent += line.text + "\n";
    }
  });
  source.addEventListener("status", (msg) => {
    const data = JSON.parse(msg.data);
    const el = document.getElementById("status");
    el.textContent = data.status;
    el.className = "status s-" + data.status;
    document.getElementById("run-error").textContent = data.error || "";
    timeline.dataset.status = data.status;
    const cancel = document.getElementById("cancel");
    if (cancel && data.status !== "running") cancel.closest("form").remove();
    fetch("/runs/" + run + "/waiting").then((r) => r.text()).then((html) => {
      const doc = new DOMParser().parseFromString(html, "text/html");
      const panel = doc.querySelector("section.waiting");
      const box = document.getElementById("waiting");
      const fresh = panel ? panel.outerHTML : "";
      if (box.innerHTML.trim() !== fresh.trim()) box.innerHTML = fresh;
    });
  });
  source.addEventListener("end", () => source.close());
})();
