import { Command } from 'commander'
import { agentCommand } from './commands/agent.js'
import { allowlistCommand } from './commands/allowlist.js'
import { demoCommand } from './commands/demo.js'
import { gasCommand } from './commands/gas.js'
import { oracleCommand } from './commands/oracle.js'
import { pluginCommand } from './commands/plugin.js'
import { ledgerCommand, pGasCommand, quoteCommand } from './commands/pricing.js'
import { explainCommand, graphCommand, proversCommand, statusCommand, submitCommand } from './commands/requester.js'

export const program = new Command('galactic')
  .description('a decentralized scheduler for zero-knowledge proving work')
  .version('0.1.0')
  .addCommand(oracleCommand())
  .addCommand(agentCommand())
  .addCommand(submitCommand())
  .addCommand(statusCommand())
  .addCommand(explainCommand())
  .addCommand(proversCommand())
  .addCommand(graphCommand())
  .addCommand(demoCommand())
  .addCommand(pluginCommand())
  .addCommand(allowlistCommand())
  .addCommand(gasCommand())
  .addCommand(quoteCommand())
  .addCommand(pGasCommand())
  .addCommand(ledgerCommand())
