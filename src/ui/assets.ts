/** The demo page and the client SDK it loads, both embedded at build time. Bun only (a macro). */
import { clientBundle } from "./bundle-client.ts" with { type: "macro" };
import page from "./page.html" with { type: "text" };

export const CLIENT_JS: string = clientBundle();
// bun-types declares *.html as an HTML bundle; with type "text" it is the file's text.
export const PAGE_HTML: string = page as unknown as string;
