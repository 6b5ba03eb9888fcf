import Hypercore

// Prints a fresh feed identity: the public key and the discovery key peers use to find it.
let pair = KeyPair.random()
print("key:           \(pair.publicKey.hex)")
print("discovery key: \(Hashing.discoveryKey(pair.publicKey).hex)")
