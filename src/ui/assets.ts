/** The demo page, the console, their scripts and stylesheets, and the client SDK, all embedded at build time. Bun only (a macro). */
import { clientBundle } from "./bundle-client.ts" with { type: "macro" };
import consoleActivity from "./console-page/activity.js" with { type: "text" };
import consoleChart from "./console-page/chart.js" with { type: "text" };
import consoleStyle from "./console-page/console.css" with { type: "text" };
import consolePage from "./console-page/console.html" with { type: "text" };
import consoleScript from "./console-page/console.js" with { type: "text" };
import consoleViews from "./console-page/views.js" with { type: "text" };
import style from "./page.css" with { type: "text" };
import page from "./page.html" with { type: "text" };
import script from "./page.js" with { type: "text" };

export const CLIENT_JS: string = clientBundle();
// bun-types declares *.html as an HTML bundle; with type "text" it is the file's text.
export const PAGE_HTML: string = page as unknown as string;
export const PAGE_JS: string = script;
export const PAGE_CSS: string = style;

/** The console's files: path, body, content type. */
export const CONSOLE_FILES: ReadonlyArray<readonly [string, string, string]> = [
  ["/console", consolePage as unknown as string, "text/html"],
  ["/ui/console/console.js", consoleScript, "text/javascript"],
  ["/ui/console/views.js", consoleViews, "text/javascript"],
  ["/ui/console/chart.js", consoleChart, "text/javascript"],
  ["/ui/console/activity.js", consoleActivity, "text/javascript"],
  ["/ui/console/console.css", consoleStyle, "text/css"],
];
