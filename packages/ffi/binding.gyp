# The native addon. By default it links the system libtorrent-rasterbar (Debian's package, found
# through pkg-config). With CHUNKTORRENT_STATIC_PREFIX set to a prefix holding a static
# libtorrent (scripts/build-static-libtorrent.sh builds one), it links that and static OpenSSL
# instead, for a self-contained prebuild.
{
  "variables": {
    "static_prefix%": "<!(echo ${CHUNKTORRENT_STATIC_PREFIX:-})"
  },
  "targets": [
    {
      "target_name": "chunktorrent",
      "sources": [
        "src/cpp/addon.cc",
        "src/cpp/alerts.cc",
        "src/cpp/disk_bridge.cc",
        "src/cpp/errors.cc",
        "src/cpp/session_params_wrap.cc",
        "src/cpp/session_wrap.cc",
        "src/cpp/torrent_tools.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=10", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fexceptions", "-frtti", "-O2", "-Wall", "-Wno-deprecated-declarations"],
      "conditions": [
        ["static_prefix==''", {
          "cflags_cc": ["<!@(pkg-config --cflags libtorrent-rasterbar)"],
          "libraries": ["<!@(pkg-config --libs libtorrent-rasterbar)"]
        }, {
          "include_dirs": ["<(static_prefix)/include"],
          "defines": [
            "BOOST_ASIO_ENABLE_CANCELIO", "BOOST_ASIO_NO_DEPRECATED", "TORRENT_USE_OPENSSL",
            "TORRENT_USE_LIBCRYPTO", "TORRENT_SSL_PEERS", "OPENSSL_NO_SSL2", "BOOST_ALL_NO_LIB"
          ],
          "libraries": [
            "<(static_prefix)/lib/libtorrent-rasterbar.a",
            "/usr/lib/x86_64-linux-gnu/libssl.a",
            "/usr/lib/x86_64-linux-gnu/libcrypto.a",
            "-Wl,--exclude-libs,ALL",
            "-lpthread",
            "-ldl"
          ]
        }]
      ]
    }
  ]
}
