// Type declarations of @cmux/proxy-electron (SPEC §4).

/** A preview log event: the old Node.js proxy's event names, with structured fields. */
export interface ProxyLogEvent {
  event: string;
  [key: string]: unknown;
}

export interface ProxyConfig {
  /** Default "127.0.0.1:39385", auto-incrementing when busy; an explicit address is taken as is
   *  (busy → EADDRINUSE); port 0 = any free port. */
  listenAddr?: string;
  /** cmux-proxy for routes without cmuxProxyOrigin, e.g. "http://127.0.0.1:39379". */
  upstreamProxyUrl?: string;
  /** Default true: HTTP/2 to clients and to upstreams. */
  enableHttp2?: boolean;
  /** Default from CMUX_PREVIEW_TLS_MITM, else true. */
  tlsIntercept?: boolean;
  /** Where the local CA lives; default ~/.cmux/certs. */
  caDir?: string;
  /** Extra PEM roots for upstream TLS. */
  upstreamCaCerts?: string[];
  /** "host:port" -> "ip:port" connect overrides (like curl --connect-to). */
  resolve?: Record<string, string>;
  /** true: events to stderr; a function: events delivered on the JS thread (never blocking I/O).
   *  Default from CMUX_PREVIEW_PROXY_LOG / CMUX_PREVIEW_PROXY_LOGGING. */
  logging?: boolean | ((event: ProxyLogEvent) => void);
  /** Native I/O threads, default 1. */
  threads?: number;
}

export interface ProxyRoute {
  morphId: string;
  scope: string;
  domainSuffix: string;
  cmuxProxyOrigin?: string;
  workspace?: string;
}

export interface ContextConfig {
  webContentsId: number;
  persistKey?: string;
  route: ProxyRoute | null;
}

export interface ProxyContext {
  readonly id: string;
  readonly username: string;
  readonly password: string;
  readonly webContentsId: number;
  readonly persistKey?: string;
  readonly route: ProxyRoute | null;
  /** Removes the context at once: its credentials get 407 from now on. */
  release(): Promise<void>;
}

export interface ProxyStats {
  activeConnections: number;
  totalConnections: number;
  activeStreams: number;
  totalRequests: number;
  bytesFromClients: number;
  bytesToClients: number;
  upstreamConnections: number;
  upstreamSessions: number;
  contexts: number;
  droppedLogEvents: number;
}

export interface ProxyServerHandle {
  readonly port: number;
  /** The local CA certificate (PEM), to trust in Electron (setCertificateVerifyProc). */
  readonly caCertificatePem: string;
  /** base64 SHA-256 of the CA's SubjectPublicKeyInfo, for --ignore-certificate-errors-spki-list. */
  readonly caSpkiSha256: string;
  createContext(config: ContextConfig): Promise<ProxyContext>;
  getContext(webContentsId: number): ProxyContext | null;
  stats(): ProxyStats;
  /** Idempotent; closes listeners and connections, joins the native threads, frees all memory. */
  stop(): Promise<void>;
}

export class ProxyServer {
  /** Bad arguments throw TypeError / RangeError naming the field; start failures reject with an
   *  Error whose `code` is set (EADDRINUSE, EACCES, ...). */
  static start(config?: ProxyConfig): Promise<ProxyServerHandle>;
}

/** The route of a preview URL, or null (an unrouted context). */
export function deriveRoute(url: string): ProxyRoute | null;

/** The package's version (the addon's CMUX_VERSION). */
export function version(): string;
