// libp2p needs Promise.withResolvers, which Node 20 lacks.
import '@galactic/net/polyfill'
