"""What the ``browser`` tool shows the model of a page: its readable text and numbered controls.

One small function runs in the page. It walks the DOM in document order (open shadow roots too),
collects the visible text as lines (headings as ``#``, list items as ``-``, table cells joined by
``|``), and numbers every visible interactive element — links, buttons, form fields, ARIA widgets,
elements with click handlers — tagging each with a ``data-interleaf-ref`` attribute. Clicking or
typing by number then finds exactly the tagged element. Every snapshot first removes the tags of
the previous one, so a number is only good until the next snapshot.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interleaf.tools.output import cut_middle

if TYPE_CHECKING:
    from playwright.async_api import Page

__all__ = ["REF_ATTRIBUTE", "Element", "Snapshot", "ref_selector", "take_snapshot"]

REF_ATTRIBUTE = "data-interleaf-ref"

_SNAPSHOT_JS = r"""
({attr, maxChars, maxElements}) => {
  for (const old of document.querySelectorAll('[' + attr + ']')) old.removeAttribute(attr);
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'CANVAS', 'IFRAME', 'OBJECT',
    'EMBED', 'HEAD', 'META', 'LINK', 'OPTION', 'DATALIST']);
  const BLOCK = new Set(['ADDRESS', 'ARTICLE', 'ASIDE', 'BLOCKQUOTE', 'BR', 'CAPTION', 'DD', 'DETAILS',
    'DIALOG', 'DIV', 'DL', 'DT', 'FIELDSET', 'FIGCAPTION', 'FIGURE', 'FOOTER', 'FORM', 'H1', 'H2', 'H3',
    'H4', 'H5', 'H6', 'HEADER', 'HR', 'LEGEND', 'LI', 'MAIN', 'NAV', 'OL', 'P', 'PRE', 'SECTION', 'SUMMARY',
    'TABLE', 'TBODY', 'TFOOT', 'THEAD', 'TR', 'UL']);
  const ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'textbox', 'searchbox', 'combobox', 'slider',
    'spinbutton', 'treeitem']);
  const lines = [];
  const elements = [];
  let current = '';
  let prefix = '';
  let chars = 0;
  let skipped = 0;
  const squash = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const short = (s, n) => { s = squash(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; };
  const flush = () => {
    const line = squash(current);
    current = '';
    if (!line || chars > maxChars) return;
    lines.push(prefix + line);
    chars += prefix.length + line.length + 1;
    prefix = '';
  };
  const visible = (el) => {
    if (el.checkVisibility && !el.checkVisibility({checkVisibilityCSS: true})) return false;
    const rect = el.getBoundingClientRect();
    return rect.width > 0 || rect.height > 0 || el.getClientRects().length > 0;
  };
  const roleOf = (el) => {
    const tag = el.tagName;
    const explicit = (el.getAttribute('role') || '').toLowerCase();
    if (tag === 'A' && el.hasAttribute('href')) return 'link';
    if (tag === 'BUTTON') return 'button';
    if (tag === 'SELECT') return 'combobox';
    if (tag === 'TEXTAREA') return 'textbox';
    if (tag === 'INPUT') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (type === 'hidden') return null;
      if (['submit', 'button', 'reset', 'image'].includes(type)) return 'button';
      if (type === 'checkbox' || type === 'radio') return type;
      if (type === 'range') return 'slider';
      if (type === 'file') return 'file';
      return 'textbox';
    }
    if (tag === 'SUMMARY') return 'button';
    if (ROLES.has(explicit)) return explicit;
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return 'textbox';
    if (el.hasAttribute('onclick')) return 'clickable';
    const parent = el.parentElement;
    if (getComputedStyle(el).cursor === 'pointer' && !(parent && getComputedStyle(parent).cursor === 'pointer')
        && squash(el.innerText)) return 'clickable';
    return null;
  };
  const nameOf = (el) => {
    const aria = squash(el.getAttribute('aria-label'));
    if (aria) return aria;
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
    const labelled = squash(ids.map((id) => document.getElementById(id)).filter(Boolean)
      .map((e) => e.innerText).join(' '));
    if (labelled) return labelled;
    if (el.labels && el.labels.length) {
      // A label wrapping its control would also read out the control's own text (a select's options).
      const own = (label) => {
        const copy = label.cloneNode(true);
        for (const control of copy.querySelectorAll('input, select, textarea, button, datalist')) control.remove();
        return copy.textContent;
      };
      const text = squash(Array.from(el.labels).map(own).join(' '));
      if (text) return text;
    }
    if (el.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes((el.type || '').toLowerCase())) {
      return squash(el.value) || el.type;
    }
    if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') {
      return squash(el.getAttribute('placeholder') || el.getAttribute('title') || el.getAttribute('name'));
    }
    const text = squash(el.innerText);
    if (text) return text;
    const img = el.querySelector('img[alt]');
    return squash((img && img.getAttribute('alt')) || el.getAttribute('title') || '');
  };
  const describe = (el, role) => {
    const item = {role, name: short(nameOf(el), 100)};
    if (role === 'link') {
      try {
        const url = new URL(el.href, location.href);
        item.href = url.origin === location.origin ? url.pathname + url.search + url.hash : url.href;
      } catch (e) { item.href = el.getAttribute('href'); }
      if (el.target === '_blank') item.newTab = true;
    }
    if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') {
      const type = (el.getAttribute('type') || (el.tagName === 'TEXTAREA' ? 'multi-line' : 'text')).toLowerCase();
      if (role === 'textbox' && type !== 'text') item.type = type;
      if (role === 'textbox' && el.value) item.value = type === 'password' ? '•'.repeat(el.value.length) : short(el.value, 200);
      const placeholder = squash(el.getAttribute('placeholder'));
      if (placeholder && placeholder !== item.name) item.placeholder = short(placeholder, 80);
      if (role === 'checkbox' || role === 'radio') item.checked = el.checked;
      if (el.required) item.required = true;
      if (el.readOnly) item.readonly = true;
    }
    if (el.tagName === 'SELECT') {
      const options = Array.from(el.options);
      item.value = options.filter((o) => o.selected).map((o) => squash(o.text)).join(', ');
      item.options = options.slice(0, 25).map((o) => short(o.text, 60));
      if (options.length > 25) item.moreOptions = options.length - 25;
    }
    const checked = el.getAttribute('aria-checked');
    if (checked !== null && item.checked === undefined) item.checked = checked === 'true';
    const expanded = el.getAttribute('aria-expanded');
    if (expanded !== null) item.expanded = expanded === 'true';
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') item.disabled = true;
    return item;
  };
  const walk = (node, inControl) => {
    if (node.nodeType === Node.TEXT_NODE) {
      current += node.data;
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
    const el = node;
    if (el.nodeType === Node.ELEMENT_NODE) {
      if (SKIP.has(el.tagName.toUpperCase())) return;
      if (!visible(el) && el.tagName !== 'BR') {
        // display:contents and similar have no box but do show their children.
        if (getComputedStyle(el).display !== 'contents') return;
      }
    }
    const tag = el.nodeType === Node.ELEMENT_NODE ? el.tagName.toUpperCase() : '';
    const block = BLOCK.has(tag);
    if (block) flush();
    if (/^H[1-6]$/.test(tag)) prefix = '#'.repeat(Number(tag[1])) + ' ';
    else if (tag === 'LI') prefix = '- ';
    else if (tag === 'TD' || tag === 'TH') { if (squash(current)) current += ' | '; }
    let control = inControl;
    if (tag && !inControl) {
      const role = roleOf(el);
      if (role) {
        control = true;
        if (elements.length < maxElements) {
          const ref = elements.length + 1;
          el.setAttribute(attr, String(ref));
          elements.push({ref, ...describe(el, role)});
        } else {
          skipped += 1;
        }
      }
    }
    if (tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (tag === 'INPUT') {
      const type = (el.getAttribute('type') || '').toLowerCase();
      if (['submit', 'button', 'reset'].includes(type)) current += ' ' + el.value + ' ';
      return;
    }
    if (tag === 'IMG') {
      const alt = squash(el.getAttribute('alt'));
      if (alt) current += ' [image: ' + alt + '] ';
      return;
    }
    if (tag === 'PRE') {
      flush();
      for (const line of (el.innerText || '').split('\n')) {
        if (line.trim() && chars <= maxChars) { lines.push('    ' + line.replace(/\s+$/, '')); chars += line.length + 5; }
      }
      // Controls inside a <pre> still get their numbers.
      for (const child of el.querySelectorAll('a[href], button, input, select, textarea')) walk(child, control);
      current = '';
      return;
    }
    if (el.shadowRoot) for (const child of el.shadowRoot.childNodes) walk(child, control);
    for (const child of el.childNodes) walk(child, control);
    if (block) flush();
  };
  if (document.body) walk(document.body, false);
  flush();
  const scroller = document.scrollingElement || document.documentElement;
  return {
    lines,
    elements,
    skipped,
    truncated: chars > maxChars,
    scrollY: Math.round(window.scrollY),
    scrollHeight: Math.round(scroller ? scroller.scrollHeight : 0),
    viewportHeight: Math.round(window.innerHeight),
  };
}
"""

_SETTLE_JS = r"""
({quietMs, maxMs}) => new Promise((resolve) => {
  let timer = setTimeout(done, quietMs);
  const cap = setTimeout(done, maxMs);
  const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, quietMs); });
  observer.observe(document, {subtree: true, childList: true, characterData: true, attributes: false});
  function done() { observer.disconnect(); clearTimeout(timer); clearTimeout(cap); resolve(true); }
})
"""


def ref_selector(ref: int) -> str:
    """The CSS selector of the element numbered ``ref`` in the latest snapshot."""
    return f'[{REF_ATTRIBUTE}="{ref}"]'


@dataclass(frozen=True, slots=True)
class Element:
    """One numbered interactive element, as the snapshot found it."""

    ref: int
    role: str
    name: str
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``[3] textbox "Email" (email, required) = "ada@example.com"`` and the like."""
        line = f"[{self.ref}] {self.role}"
        if self.name:
            line += f' "{self.name}"'
        d = self.details
        flags: list[str] = []
        if "type" in d:
            flags.append(str(d["type"]))
        if "checked" in d:
            flags.append("checked" if d["checked"] else "not checked")
        if "expanded" in d:
            flags.append("expanded" if d["expanded"] else "collapsed")
        for flag in ("required", "readonly", "disabled"):
            if d.get(flag):
                flags.append(flag)
        if d.get("newTab"):
            flags.append("opens a new tab")
        if "placeholder" in d:
            flags.append(f'placeholder "{d["placeholder"]}"')
        if flags:
            line += f" ({', '.join(flags)})"
        if "value" in d:
            line += f' = "{d["value"]}"'
        if "options" in d:
            options = ", ".join(f'"{o}"' for o in d["options"])
            more = f", … {d['moreOptions']} more" if d.get("moreOptions") else ""
            line += f" options: {options}{more}"
        if "href" in d:
            line += f" -> {d['href']}"
        return line


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A page as text: its title, address, readable lines and numbered elements."""

    url: str
    title: str
    lines: tuple[str, ...]
    elements: tuple[Element, ...]
    skipped: int = 0
    truncated: bool = False
    scroll_y: int = 0
    scroll_height: int = 0
    viewport_height: int = 0

    @property
    def position(self) -> str:
        """Where the viewport is, e.g. ``showing 800-1600 of 4000 px``."""
        if self.scroll_height <= self.viewport_height:
            return "the whole page fits in the window"
        bottom = min(self.scroll_y + self.viewport_height, self.scroll_height)
        return f"the window shows {self.scroll_y}-{bottom} of {self.scroll_height} px"

    def render(self, max_chars: int) -> tuple[str, bool]:
        """The snapshot as text of at most about ``max_chars``; True when something was cut.

        The element list gets up to half the room, so numbers survive a long page; the page text
        is cut in the middle (its head and tail stay).
        """
        text = "\n".join(self.lines) or "(no visible text)"
        if self.truncated:
            text += "\n[... the rest of the page text was not read: it is very long ...]"
        listed = "\n".join(element.describe() for element in self.elements) or "(none)"
        if self.skipped:
            listed += f"\n[... {self.skipped} more interactive elements were not numbered ...]"
        list_room = max(max_chars // 2, 500)
        cut_list = cut_middle(listed, list_room)
        text_room = max(max_chars - len(cut_list) - 200, 500)
        cut_text = cut_middle(text, text_room)
        body = (
            f"--- page text ---\n{cut_text}\n"
            f"--- interactive elements (pass the number as `ref`) ---\n{cut_list}"
        )
        return body, cut_text != text or cut_list != listed or self.truncated

    def full_text(self) -> str:
        """The whole snapshot, uncut (saved to a file when the rendered one is cut)."""
        listed = "\n".join(element.describe() for element in self.elements)
        return (
            f"{self.title}\n{self.url}\n\n--- page text ---\n"
            + "\n".join(self.lines)
            + f"\n--- interactive elements ---\n{listed}\n"
        )


async def take_snapshot(page: Page, *, max_chars: int = 200_000, max_elements: int = 500) -> Snapshot:
    """Read ``page`` and number its interactive elements (the numbers of any earlier snapshot end)."""
    data: dict[str, Any] = await page.evaluate(
        _SNAPSHOT_JS, {"attr": REF_ATTRIBUTE, "maxChars": max_chars, "maxElements": max_elements}
    )
    elements = tuple(
        Element(
            ref=int(item["ref"]),
            role=str(item["role"]),
            name=str(item.get("name") or ""),
            details={k: v for k, v in item.items() if k not in ("ref", "role", "name")},
        )
        for item in data.get("elements", [])
    )
    return Snapshot(
        url=page.url,
        title=await page.title(),
        lines=tuple(str(line) for line in data.get("lines", [])),
        elements=elements,
        skipped=int(data.get("skipped", 0)),
        truncated=bool(data.get("truncated", False)),
        scroll_y=int(data.get("scrollY", 0)),
        scroll_height=int(data.get("scrollHeight", 0)),
        viewport_height=int(data.get("viewportHeight", 0)),
    )


async def settle(page: Page, *, quiet_ms: int = 200, max_ms: int = 1500) -> None:
    """Wait until the page's DOM has been still for ``quiet_ms`` (at most ``max_ms``): scripts that
    render after load get to finish. A page that navigates away meanwhile ends the wait."""
    from playwright.async_api import Error as PlaywrightError

    # A navigation destroys the context mid-wait; the caller then waits for the new page's load.
    with contextlib.suppress(PlaywrightError):
        await page.evaluate(_SETTLE_JS, {"quietMs": quiet_ms, "maxMs": max_ms})
