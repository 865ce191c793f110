/**
 * Helpers for tests that need Docker: start a private dockerd, build a Node base image from this
 * host's node, and plugin images from it. Import relatively, e.g. `../../test/docker/index.js`.
 */
export { startDockerd, dockerdUnavailable, findOnPath, waitForDocker, type StartedDockerd } from './dockerd.js'
export { buildNodeBaseImage, buildPluginImage, dockerManifest, ensureNodeBaseImage, nodeBaseTag, saveImage, writeScriptPlugin, type BuiltImage } from './images.js'
export { dockerForTests, dockerTestsRequired, dockerTestsUnavailable, type DockerForTests } from './for-tests.js'
export { containerEvents, type ContainerEvent } from './events.js'
export { startRegistry, registryUnavailable, REGISTRY_BIN, type StartedRegistry } from './registry.js'
