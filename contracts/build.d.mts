// Types of build.mjs, for the TypeScript tests that import it.
export interface ContractArtifact {
  contractName: string
  compiler: string
  evmVersion: string
  abi: unknown[]
  bytecode: `0x${string}`
  deployedBytecode: `0x${string}`
}

export declare const CONTRACT: string
export declare const sourcePath: string
export declare const artifactPath: string
export declare const EVM_VERSION: string
export declare function compile(): ContractArtifact
export declare function artifactText(artifact: ContractArtifact): string
