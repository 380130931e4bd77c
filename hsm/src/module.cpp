#include "p11.hpp"
#include "p11kit.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace signet::hsm {

namespace {

// Loads the module file unmanaged, so that we call C_Initialize ourselves with
// CKF_OS_LOCKING_OK (SoftHSM2 needs it for signing from several threads).
CK_FUNCTION_LIST* load_file(const std::string& path) {
  // The module runs inside this process and is handed the PIN: a file that
  // others than its owner may replace is refused, as signet.toml is.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw HsmError(ErrorKind::unavailable, "cannot load PKCS#11 module " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw HsmError(ErrorKind::config, "PKCS#11 module " + path + ": is not a regular file");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw HsmError(ErrorKind::config, "PKCS#11 module " + path +
                                          ": is writable by others than its owner; chmod go-w " + path);
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    throw HsmError(ErrorKind::config, "PKCS#11 module " + path + ": belongs to user " + std::to_string(st.st_uid) +
                                          ", not to this user or root");
  }
  CK_FUNCTION_LIST* module = detail::p11kit().module_load(path.c_str(), P11_KIT_MODULE_UNMANAGED);
  if (module == nullptr) {
    const char* why = detail::p11kit().message();
    throw HsmError(ErrorKind::unavailable, "cannot load PKCS#11 module " + path + ": " +
                                               (why != nullptr ? why : "p11_kit_module_load failed"));
  }
  return module;
}

std::string registered_file(const std::string& name) {
  CK_FUNCTION_LIST** modules = detail::p11kit().modules_load(nullptr, P11_KIT_MODULE_UNMANAGED);
  if (modules == nullptr) {
    throw HsmError(ErrorKind::unavailable, "cannot list p11-kit's registered PKCS#11 modules");
  }
  std::string file;
  if (CK_FUNCTION_LIST* m = detail::p11kit().module_for_name(modules, name.c_str()); m != nullptr) {
    if (char* f = detail::p11kit().module_get_filename(m); f != nullptr) {
      file = f;
      std::free(f);
    }
  }
  detail::p11kit().modules_release(modules);
  if (file.empty()) {
    throw HsmError(ErrorKind::unavailable, "no PKCS#11 module named '" + name +
                                               "' is registered with p11-kit (give a file path, or see p11-kit list-modules)");
  }
  return file;
}

}  // namespace

std::shared_ptr<Module> Module::load(const std::string& path_or_name) {
  if (path_or_name.empty()) throw HsmError(ErrorKind::config, "no PKCS#11 module configured (hsm.module)");
  const std::string file =
      path_or_name.find('/') != std::string::npos ? path_or_name : registered_file(path_or_name);
  // One Module per file and process: a PKCS#11 library is initialised once per
  // process, and a second C_Finalize would pull it from under the first user.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<Module>> loaded;
  const std::lock_guard lock(mutex);
  if (auto existing = loaded[file].lock()) return existing;
  CK_FUNCTION_LIST* fn = load_file(file);
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV rv = fn->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    detail::p11kit().module_release(fn);
    throw HsmError(ErrorKind::unavailable, "C_Initialize of " + file + ": " + ckr_name(rv), rv);
  }
  std::shared_ptr<Module> module(new Module(fn, file));
  module->m_finalize = rv == CKR_OK;  // someone else in the process initialised it: theirs to finalise
  loaded[file] = module;
  return module;
}

Module::~Module() noexcept {
  auto* fn = static_cast<CK_FUNCTION_LIST*>(m_functions);
  if (fn != nullptr) {
    if (m_finalize) fn->C_Finalize(nullptr);
    detail::p11kit().module_release(fn);
  }
}

}  // namespace signet::hsm
