export type { JsonValue, PluginInstance, PluginRuntime, PluginRuntimeComponents } from './types.js'
export { ProcessRuntime, ProcessPluginInstance } from './process-runtime.js'
export type { ProcessRuntimeInit, ProcessRuntimeComponents } from './process-runtime.js'
export { PluginHost } from './plugin-host.js'
export type { InstalledPlugin, PluginHostInit, PluginHostComponents } from './plugin-host.js'
export { loadPluginManifest, loadPluginPackage, MANIFEST_FILE } from './manifest.js'

