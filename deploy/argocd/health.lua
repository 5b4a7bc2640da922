-- Argo CD health check for kage.dev/SealedSecret. Install it in argocd-cm under
-- resource.customizations.health.kage.dev_SealedSecret (docs/operations.md, "GitOps").
-- Healthy: unsealed. Degraded: will not unseal until the object changes (Stalled=True),
-- with kage's reason and message. Progressing: not yet looked at, or being retried.
local hs = { status = "Progressing", message = "Waiting for kage-controller" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
local ready, stalled
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Stalled" then stalled = c end
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
elseif ready ~= nil then
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
