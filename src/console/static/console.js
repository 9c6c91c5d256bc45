// Varco console: a little help where it pays, nothing the pages need to work.
// A search as you type: the positions' filters submit themselves once a select changes.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form.filtri")) {
    for (const select of form.querySelectorAll("select")) {
      select.addEventListener("change", () => form.requestSubmit());
    }
  }
});
