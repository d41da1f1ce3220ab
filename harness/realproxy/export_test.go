package realproxy

// Owner is owner, for the specs that find this process's containers by their label.
var Owner = owner
