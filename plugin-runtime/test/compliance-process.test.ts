import { pluginCompliance } from './compliance.js'
import { groth16ChainPlugin, sha256ChainPlugin } from './compliance-plugins.js'
import { processTarget } from './process-target.js'

pluginCompliance('sha256-chain on the process runtime', processTarget, sha256ChainPlugin)
pluginCompliance('groth16-chain on the process runtime', processTarget, groth16ChainPlugin)
