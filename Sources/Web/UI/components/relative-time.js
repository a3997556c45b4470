// <relative-time datetime="ISO">: "5 minutes ago", the absolute local time on hover.

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const connected = new Set();
let timer = null;

/** Days between the local calendar dates of `date` and `now` (negative in the past). */
function dayDifference(date, now) {
  const day = (moment) => Date.UTC(moment.getFullYear(), moment.getMonth(), moment.getDate());
  return Math.round((day(date) - day(now)) / 86400000);
}

/** The text for `date` seen at `now`: just now, minutes, hours (same day or within 6 h),
 *  yesterday/tomorrow, else the date (with the year when it is not this year's). */
export function relativeText(date, now = new Date()) {
  const seconds = (date - now) / 1000;
  const minutes = Math.round(seconds / 60);
  const hours = Math.round(seconds / 3600);
  const days = dayDifference(date, now);
  if (Math.abs(seconds) < 45) return "just now";
  if (Math.abs(minutes) < 60) return relative.format(minutes, "minute");
  if (days === 0 || Math.abs(hours) < 6) return relative.format(hours, "hour");
  if (Math.abs(days) === 1) return relative.format(days, "day");
  const options = { day: "numeric", month: "short" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString(undefined, options);
}

/**
 * `<relative-time datetime="ISO">` guarantees: its text is the time relative to now ("just
 * now", "5 minutes ago", "in 2 hours", "yesterday", then the date), its `title` the absolute
 * local time; while in the page it is refreshed by one timer shared by all of them (every
 * 30 s, stopped when none is left). An unreadable datetime is shown as given. Property:
 * `datetime` (reflects the attribute).
 */
class RelativeTime extends HTMLElement {
  static observedAttributes = ["datetime"];

  get datetime() { return this.getAttribute("datetime") || ""; }
  set datetime(value) { this.setAttribute("datetime", value); }

  connectedCallback() {
    connected.add(this);
    if (!timer) timer = setInterval(() => { for (const element of connected) element.update(); }, 30000);
    this.update();
  }

  disconnectedCallback() {
    connected.delete(this);
    if (connected.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  attributeChangedCallback() {
    this.update();
  }

  /** Rewrites the text (and the title) for the current time. */
  update() {
    const date = new Date(this.datetime);
    if (Number.isNaN(date.getTime())) {
      this.textContent = this.datetime;
      this.removeAttribute("title");
      return;
    }
    const text = relativeText(date);
    if (this.textContent !== text) this.textContent = text;
    this.title = date.toLocaleString();
  }
}

customElements.define("relative-time", RelativeTime);
