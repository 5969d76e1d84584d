"""The wallet: keys, addresses, coins, signing and the wallet database."""
