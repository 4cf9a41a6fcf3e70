// Bun imports the page's script and stylesheet as text (`with { type: "text" }`), so the build embeds them.
declare module "*/page.js" {
  const text: string;
  export default text;
}
declare module "*/page.css" {
  const text: string;
  export default text;
}
