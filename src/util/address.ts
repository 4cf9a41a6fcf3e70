/** How a host and port are written in URLs and logs: an IPv6 host in brackets ("[::1]:8080"). */
export const bracketHost = (host: string): string => (host.includes(":") ? `[${host}]` : host);

export const showAddress = (host: string, port: number | string): string => `${bracketHost(host)}:${port}`;
