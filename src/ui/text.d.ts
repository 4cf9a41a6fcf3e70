// Bun imports the pages' scripts and stylesheets as text (`with { type: "text" }`), so the build embeds them.
declare module "*/page.js" {
  const text: string;
  export default text;
}
declare module "*/page.css" {
  const text: string;
  export default text;
}
declare module "*/console-page/console.js" {
  const text: string;
  export default text;
}
declare module "*/console-page/views.js" {
  const text: string;
  export default text;
}
declare module "*/console-page/chart.js" {
  const text: string;
  export default text;
}
declare module "*/console-page/activity.js" {
  const text: string;
  export default text;
}
declare module "*/console-page/console.css" {
  const text: string;
  export default text;
}
