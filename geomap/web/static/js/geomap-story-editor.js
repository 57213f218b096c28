/* The story steps of the publication form (_story_steps.html): add, remove and move steps,
   and fill a step's centre and zoom from the preview map. The form works without this script
   (fill the empty step to add one, tick "remove" to drop one); the script only renumbers the
   fields (step-<i>-<field>) so the server reads them in the order shown. */
(function () {
  "use strict";
  const box = document.querySelector(".gm-story-steps");
  if (!box) return;
  const list = box.querySelector(".gm-step-list");
  const add = box.querySelector(".gm-step-add");
  const blank = list.lastElementChild.cloneNode(true);  // the empty new step, as a template

  function renumber() {
    Array.from(list.querySelectorAll("[data-step]")).forEach((fs, k) => {
      fs.querySelectorAll("[name]").forEach((el) => { el.name = el.name.replace(/^step-\d+-/, "step-" + k + "-"); });
      const legend = fs.querySelector("legend");  // "New step" too: it is a step like the others now
      if (legend) legend.textContent = legend.dataset.stepLabel + " " + (k + 1);
    });
    add.disabled = list.querySelectorAll("[data-step]").length >= 30;
  }
  function enable(fs) {
    fs.querySelectorAll("[hidden]").forEach((el) => { el.hidden = false; });
    const remove = fs.querySelector(".gm-step-remove");
    if (remove) remove.hidden = true;  // the buttons do it
  }
  list.querySelectorAll("[data-step]").forEach(enable);
  add.hidden = false;

  add.addEventListener("click", () => {
    const fs = blank.cloneNode(true);
    fs.querySelectorAll("input:not([type=checkbox]), textarea").forEach((el) => { el.value = ""; });
    fs.querySelectorAll("select").forEach((el) => { el.selectedIndex = 0; });
    enable(fs);
    list.appendChild(fs);
    renumber();
    const title = fs.querySelector("input[name$='-title']");
    if (title) title.focus();
  });

  list.addEventListener("click", (e) => {
    const btn = e.target.closest("[data-step-action]");
    if (!btn) return;
    const fs = btn.closest("[data-step]");
    const action = btn.dataset.stepAction;
    if (action === "remove") {
      fs.remove();
      if (!list.querySelector("[data-step]")) add.click();
    } else if (action === "up" && fs.previousElementSibling) {
      list.insertBefore(fs, fs.previousElementSibling);
    } else if (action === "down" && fs.nextElementSibling) {
      list.insertBefore(fs.nextElementSibling, fs);
    } else if (action === "use-view") {
      const preview = document.querySelector(".gm-pub-preview");
      const map = preview && preview.gmMap;
      if (!map) return;
      const c = map.getCenter();
      fs.querySelector("[name$='-lat']").value = c.lat.toFixed(3);
      fs.querySelector("[name$='-lon']").value = c.lng.toFixed(3);
      fs.querySelector("[name$='-zoom']").value = String(map.getZoom());
      fs.querySelector("[name$='-fit']").value = "";
    }
    renumber();
    if (action === "up" || action === "down") btn.focus();
  });
  renumber();
})();
