// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title PGasOracle
/// @notice The "Galactic network" price of gas for proving work: P_gas in wei per unit of Gas.
///         A galactic oracle configured with this contract's address reads `pGas()` and prices
///         every op at P = P_gas x Gas. Only the owner (the deployer) can change the price.
contract PGasOracle {
    /// @notice Who may call `setPGas`; set once, at deployment.
    address public immutable owner;

    /// @notice Current price, wei per unit of Gas.
    uint256 public pGas;

    /// @notice Emitted on every change of the price, including the one at deployment.
    event PGasChanged(uint256 previous, uint256 current);

    /// @notice The caller of `setPGas` is not the owner.
    error NotOwner(address caller);

    constructor(uint256 initialPGas) {
        owner = msg.sender;
        pGas = initialPGas;
        emit PGasChanged(0, initialPGas);
    }

    /// @notice Sets the price (wei per unit of Gas). Owner only.
    function setPGas(uint256 newPGas) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        uint256 previous = pGas;
        pGas = newPGas;
        emit PGasChanged(previous, newPGas);
    }
}
