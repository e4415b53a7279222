/// <reference types="vite/client" />

// Build-time settings (`VITE_API_URL=… npm run build`); see README.md.
interface ImportMetaEnv {
  /** The GraphQL endpoint. Default http://127.0.0.1:4000/graphql; `?api=` on the page overrides it. */
  readonly VITE_API_URL?: string;
  /** `off` for a server with MAIL_TRANSPORT=none: no mail pages, no verification banner. */
  readonly VITE_MAIL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
