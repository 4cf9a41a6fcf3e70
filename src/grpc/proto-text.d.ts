// Bun imports a .proto as text (`with { type: "text" }`), so `bun build --compile` embeds it.
declare module "*.proto" {
  const text: string;
  export default text;
}
