#pragma once
// GET /openapi.json: an OpenAPI 3.0 document generated from the route table, so a route cannot
// exist without being documented.
#include <string>
#include <vector>

#include "server/routes.hpp"

namespace pdl::server {

/** The document for @p routes (paths, bearer security, request/response schemas). */
std::string build_openapi(const std::vector<route>& routes);

}  // namespace pdl::server
