package container

// What Run uses to clean up after a network request that failed, for the
// specs of the external test package.
var RemoveNetworks = removeNetworks

const RunLabel = runLabel
