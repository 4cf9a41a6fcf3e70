/** The few Deno APIs the Deno adapter uses, so that the project typechecks with Bun's types. */
declare namespace Deno {
  interface NetAddr {
    hostname: string;
    port: number;
  }
  interface ServeHandlerInfo {
    remoteAddr: NetAddr;
  }
  interface HttpServer {
    addr: NetAddr;
    finished: Promise<void>;
    shutdown(): Promise<void>;
  }
  interface ServeOptions {
    hostname?: string;
    port?: number;
    cert?: string;
    key?: string;
    onListen?: (addr: NetAddr) => void;
    onError?: (err: unknown) => Response | Promise<Response>;
    handler: (req: Request, info: ServeHandlerInfo) => Response | Promise<Response>;
  }
  function serve(options: ServeOptions): HttpServer;
  function upgradeWebSocket(
    req: Request,
    options?: { idleTimeout?: number },
  ): { socket: WebSocket; response: Response };
}
