#include "engine/core/keyfile.h"

#include "kindred/v1/store.pb.h"

namespace kindred::core {
namespace {

constexpr uint32_t kKeyFileFormat = 1;
constexpr char kKeyFileAd[] = "kindred/keyfile/1";

Result<v1::KeyFile> Load(FileSystem& fs, const std::string& path) {
  KINDRED_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFile(path));
  v1::KeyFile file;
  if (!file.ParseFromString(bytes)) {
    return Status::Corruption("the key file " + path + " is damaged and cannot be read");
  }
  if (file.format() != kKeyFileFormat) {
    return Status::Corruption("the key file " + path + " has format " +
                              std::to_string(file.format()) + ", which this version cannot read");
  }
  return file;
}

}  // namespace

Status WriteKeyFile(FileSystem& fs, Random& random, const std::string& path,
                    const DeviceSecrets& secrets, const DeviceId& device,
                    const std::optional<std::string>& passphrase,
                    const crypto::PwhashParams& params) {
  v1::KeySecrets inner;
  inner.set_sign_sk(std::string(secrets.sign.secret_key.view()));
  inner.set_dh_sk(std::string(secrets.dh.secret_key.view()));
  inner.set_local_key(std::string(secrets.local_key.view()));
  crypto::SecretString plain(inner.SerializeAsString());
  // Wipe the protobuf's copies of the secrets.
  for (std::string* s : {inner.mutable_sign_sk(), inner.mutable_dh_sk(), inner.mutable_local_key()}) {
    sodium_memzero(s->data(), s->size());
  }

  v1::KeyFile file;
  file.set_format(kKeyFileFormat);
  file.set_device_id(std::string(device.bytes()));
  if (passphrase && !passphrase->empty()) {
    std::string salt(crypto::kPwhashSaltBytes, '\0');
    random.Fill(reinterpret_cast<uint8_t*>(salt.data()), salt.size());
    KINDRED_ASSIGN_OR_RETURN(auto key, crypto::KeyFromPassphrase(*passphrase, salt, params));
    file.set_sealed(true);
    file.set_salt(salt);
    file.set_opslimit(params.opslimit);
    file.set_memlimit(params.memlimit);
    file.set_sealed_secrets(crypto::AeadSealRandomNonce(random, key, kKeyFileAd, plain.str()));
  } else {
    file.set_sealed(false);
    file.set_secrets(plain.str());
  }
  crypto::SecretString bytes(file.SerializeAsString());
  if (!file.secrets().empty()) {
    sodium_memzero(file.mutable_secrets()->data(), file.secrets().size());
  }
  return fs.WriteFileAtomic(path, bytes.str(), 0600);
}

Result<DeviceSecrets> ReadKeyFile(FileSystem& fs, const std::string& path,
                                  const std::optional<std::string>& passphrase, bool* sealed) {
  KINDRED_ASSIGN_OR_RETURN(v1::KeyFile file, Load(fs, path));
  *sealed = file.sealed();
  crypto::SecretString plain;
  if (file.sealed()) {
    if (!passphrase || passphrase->empty()) {
      return Status::Unauthenticated(
          "this device's keys are sealed with a passphrase: enter it when asked, or set "
          "KINDRED_PASSPHRASE");
    }
    crypto::PwhashParams params{file.opslimit(), file.memlimit()};
    // Bound the work a damaged or hostile file can ask of us.
    if (params.memlimit > (size_t{4} << 30) || params.opslimit > 64) {
      return Status::Corruption("the key file asks for an unreasonable passphrase work factor");
    }
    KINDRED_ASSIGN_OR_RETURN(auto key, crypto::KeyFromPassphrase(*passphrase, file.salt(), params));
    if (!crypto::AeadOpenRandomNonce(key, kKeyFileAd, file.sealed_secrets(), &plain.str()).ok()) {
      return Status::Unauthenticated("wrong passphrase: the key file could not be unlocked");
    }
  } else {
    plain.str() = file.secrets();
    sodium_memzero(file.mutable_secrets()->data(), file.secrets().size());
  }
  v1::KeySecrets inner;
  if (!inner.ParseFromString(plain.str())) {
    return Status::Corruption("the key file's contents are damaged");
  }
  DeviceSecrets out;
  auto sign = crypto::SignKeyPair::FromSecret(inner.sign_sk());
  auto dh = crypto::DhKeyPair::FromSecret(inner.dh_sk());
  auto local = crypto::SymmetricKey::FromBytes(inner.local_key());
  for (std::string* s : {inner.mutable_sign_sk(), inner.mutable_dh_sk(), inner.mutable_local_key()}) {
    sodium_memzero(s->data(), s->size());
  }
  if (!sign.ok() || !dh.ok() || !local.ok()) {
    return Status::Corruption("the key file holds keys of the wrong size");
  }
  out.sign = std::move(*sign);
  out.dh = std::move(*dh);
  out.local_key = *local;
  DeviceId derived = DeviceId::FromPublicKeys(out.sign.public_key, out.dh.public_key);
  if (derived.bytes() != file.device_id()) {
    return Status::Corruption("the key file's keys do not match its device id");
  }
  return out;
}

Result<bool> KeyFileSealed(FileSystem& fs, const std::string& path) {
  KINDRED_ASSIGN_OR_RETURN(v1::KeyFile file, Load(fs, path));
  return file.sealed();
}

}  // namespace kindred::core
