/** The demo page, its script and stylesheet, and the client SDK it loads, all embedded at build time. Bun only (a macro). */
import { clientBundle } from "./bundle-client.ts" with { type: "macro" };
import style from "./page.css" with { type: "text" };
import page from "./page.html" with { type: "text" };
import script from "./page.js" with { type: "text" };

export const CLIENT_JS: string = clientBundle();
// bun-types declares *.html as an HTML bundle; with type "text" it is the file's text.
export const PAGE_HTML: string = page as unknown as string;
export const PAGE_JS: string = script;
export const PAGE_CSS: string = style;
