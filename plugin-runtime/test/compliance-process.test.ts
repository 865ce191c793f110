import { pluginCompliance } from './compliance.js'
import { sha256ChainPlugin } from './compliance-plugins.js'
import { processTarget } from './process-target.js'

pluginCompliance('sha256-chain on the process runtime', processTarget, sha256ChainPlugin)
