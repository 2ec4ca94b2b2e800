// Small DOM helpers: elements by id, elements made with their text (always textContent,
// never HTML), message text with its http(s) URLs as links, and names' keys and colours.

export const $ = (id) => document.getElementById(id);
// small helpers

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
export function button(text, cls, onclick, label) {
  const b = el("button", cls, text);
  b.type = "button";
  b.addEventListener("click", onclick);
  if (label) b.setAttribute("aria-label", label);
  return b;
}
export function convButton(text, onclick) {  // the name in a span of its own: it is what shrinks
  const b = button("", "conv", onclick);
  b.append(el("span", "name", text));
  b.title = text;  // whole, where the name is cut
  return b;
}
const URLS = /\bhttps?:\/\/[^\s<>"]+/gi;
export function linked(text) {  // text with its http(s) URLs as links; everything else stays text
  const span = el("span", "text");
  let at = 0;
  for (const m of text.matchAll(URLS)) {
    let raw = m[0].replace(/[.,;:!?'"\]]+$/, "");  // sentence punctuation is not the URL
    while (raw.endsWith(")") && raw.split("(").length < raw.split(")").length) {
      raw = raw.slice(0, -1).replace(/[.,;:!?'"\]]+$/, "");  // "(see http://a.b/c)."
    }
    let url = null;
    try { url = new URL(raw); } catch (_) { /* not a URL after all: left as text */ }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    span.append(text.slice(at, m.index));
    const a = el("a", "", raw);
    a.href = url.href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    span.append(a);
    at = m.index + raw.length;
  }
  span.append(text.slice(at));
  return span;
}
export const key = (name) => name.toLowerCase();
export const two = (n) => String(n).padStart(2, "0");
export const clock = (d) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
export function hue(name) {
  let h = 0;
  for (const ch of key(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return String(h);
}
