// The colour theme: the system's (prefers-color-scheme) unless the user
// picked light or dark, remembered in this browser. style.css reads the
// data-theme attribute of <html>; without it the media query decides.

const KEY = "tertulia.theme";

function stored() {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch (e) {
    return "system"; // storage refused (e.g. blocked cookies): follow the system
  }
}

function apply(choice) {
  if (choice === "system") {
    document.documentElement.removeAttribute("data-theme");
  } else {
    document.documentElement.setAttribute("data-theme", choice);
  }
  document.querySelectorAll("select.theme-select").forEach(function (s) { s.value = choice; });
}

function choose(choice) {
  try {
    if (choice === "system") localStorage.removeItem(KEY); else localStorage.setItem(KEY, choice);
  } catch (e) { /* still applied to this page */ }
  apply(choice);
}

apply(stored());
document.querySelectorAll("select.theme-select").forEach(function (s) {
  s.addEventListener("change", function () { choose(s.value); });
});
// Another tab of this page changed it.
window.addEventListener("storage", function (ev) { if (ev.key === KEY) apply(stored()); });
