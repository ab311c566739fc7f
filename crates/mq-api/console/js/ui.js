// Shared building blocks of the console, one import for every page (the contract in
// notes/console-contract.md). The code lives in `ui/` by concern; this file only re-exports it.
// Nothing here knows the API; CSP forbids inline styles and handlers, so everything is built with
// the DOM and styled by class (console.css and css/*.css).

export { h, replace, svg, swap } from "./ui/dom.js";
export { fmtAgo, fmtBytes, fmtCount, fmtDuration, fmtRate, fmtTime, orDash, plural } from "./ui/format.js";
export { every, keepLive, liveStatus, newestOnly, toast, toastError } from "./ui/feedback.js";
export { choiceField, field, filters } from "./ui/forms.js";
export { confirmDialog, formDialog, showDialog } from "./ui/dialogs.js";
export {
  badge,
  button,
  emptyState,
  errorState,
  intro,
  jsonView,
  keyValues,
  link,
  loading,
  mono,
  pageHeader,
  pager,
  section,
  stat,
  table,
  toggleGroup,
} from "./ui/parts.js";
export { lineChart } from "./ui/chart.js";
