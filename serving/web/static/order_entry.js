// Order entry's niceties; every page works without them. At checkout: no more offers can be ticked than an order
// takes, and the confirm button says it is working once pressed (a second press still makes one order: the form
// carries its Idempotency-Key).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.checkout[data-max-offers]").forEach(function (form) {
    var most = parseInt(form.dataset.maxOffers, 10);
    var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="offer_codes"]'));
    function limit() {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      boxes.forEach(function (box) { box.disabled = !box.checked && ticked >= most; });
    }
    boxes.forEach(function (box) { box.addEventListener("change", limit); });
    limit();
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (!button) return;
      setTimeout(function () { button.disabled = true; button.textContent = "Placing the order…"; }, 0);
    });
  });
});
