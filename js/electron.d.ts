// Type declarations of @cmux/proxy-electron/electron (SPEC §4). Electron's types are described
// structurally, so the package does not depend on `electron`.
import type { ProxyLogEvent, ProxyServerHandle } from './index';

/** The part of Electron's Session this module uses. */
export interface SessionLike {
  setProxy(config: { mode: 'fixed_servers'; proxyRules: string; proxyBypassRules?: string }): Promise<void>;
  setCertificateVerifyProc(
    proc: (
      request: { hostname: string; certificate: { data: string }; verificationResult: string; errorCode: number },
      callback: (verificationResult: number) => void,
    ) => void,
  ): void;
}

/** The part of Electron's WebContents this module uses. */
export interface WebContentsLike {
  readonly id: number;
  readonly session: SessionLike;
  once(event: 'destroyed', listener: () => void): unknown;
}

export type PreviewLogger = (event: ProxyLogEvent) => void;

export interface ConfigurePreviewProxyOptions {
  webContents: WebContentsLike;
  initialUrl: string;
  persistKey?: string;
  logger?: PreviewLogger;
}

/** Creates the WebContents' proxy context, points its session at the proxy and releases the
 *  context when the WebContents is destroyed. Resolves to a cleanup function (idempotent). */
export function configurePreviewProxyForView(options: ConfigurePreviewProxyOptions): Promise<() => void>;

/** For app.on("login"): the proxy credentials of a WebContents, or null. */
export function getProxyCredentialsForWebContents(webContentsId: number): { username: string; password: string } | null;

export function releasePreviewProxy(webContentsId: number): Promise<void>;

/** Starts the process's preview proxy once; later calls return the same handle. */
export function startPreviewProxy(logger?: PreviewLogger | boolean): Promise<ProxyServerHandle>;

/** Keys of task-run previews: `task-run-<id>`. */
export function isTaskRunPreviewPersistKey(key: string): boolean;

/** `persist:cmux-preview-<first 24 hex of sha256(key)>`. */
export function getPreviewPartitionForPersistKey(key: string): string;

/** Accepts a certificate only if it is signed by the preview proxy's CA and valid for the host. */
export function trustPreviewProxyCa(session: SessionLike): Promise<void>;
