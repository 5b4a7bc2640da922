# The only OpenBao rights kage needs (the controller's role and kage-kms's role): encrypt and
# decrypt with one Transit key.
path "transit/encrypt/kage" { capabilities = ["update"] }
path "transit/decrypt/kage" { capabilities = ["update"] }
